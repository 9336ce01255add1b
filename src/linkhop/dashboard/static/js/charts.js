// linkhop analytics and QR code pages. Progressive enhancement only: without this file the
// pages still work (tables, GET forms, download links). Loaded as a file (CSP script-src
// 'self'); no inline handlers, no eval. Styles are set through the CSSOM only.
(function () {
  "use strict";

  var numbers = new Intl.NumberFormat();

  // ---- the filters form -------------------------------------------------------------------

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return "";
    }
  }

  function hasOption(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }

  function wireFilters(form) {
    var custom = form.querySelector("[data-custom-range]");
    var zone = form.querySelector("select[name=tz]");

    function isCustom() {
      var checked = form.querySelector("input[name=interval]:checked");
      return checked && checked.value === "custom";
    }

    // The date fields only matter for a custom range: hidden (and not sent) otherwise.
    function showRange() {
      if (!custom) return;
      var on = isCustom();
      custom.hidden = !on;
      custom.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
    }

    function submit() {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }

    // No zone in the address yet: the page used the browser's zone if the server knew it (the
    // linkhop_tz cookie, set by app.js), else UTC. Switch to the browser's zone once.
    if (zone && form.getAttribute("data-tz-auto") === "1") {
      var wanted = browserZone();
      if (wanted && wanted !== form.getAttribute("data-tz") && hasOption(zone, wanted)) {
        zone.value = wanted;
        showRange();
        var params = new URLSearchParams(new FormData(form));
        window.location.replace(form.getAttribute("action") + "?" + params.toString());
        return;
      }
    }

    showRange();
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.name === "interval") {
        showRange();
        if (isCustom()) {
          var start = form.querySelector("input[name=start]");
          if (start && !start.value) { start.focus(); return; }
        }
        submit();
      } else if (target.name === "tz" || target.name === "bots") {
        submit();
      } else if ((target.name === "start" || target.name === "end") && target.value) {
        var first = form.querySelector("input[name=start]");
        if (first && first.value) submit();
      }
    });
  }

  // ---- the chart --------------------------------------------------------------------------

  var DATE_FORMATS = {
    minute: { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    hour: { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    day: { weekday: "short", month: "short", day: "numeric", year: "numeric" },
    month: { month: "long", year: "numeric" }
  };

  function dateFormatter(zone, unit) {
    var options = Object.assign({ timeZone: zone }, DATE_FORMATS[unit] || DATE_FORMATS.day);
    var format;
    try {
      format = new Intl.DateTimeFormat(undefined, options);
    } catch (e) {
      delete options.timeZone;
      format = new Intl.DateTimeFormat(undefined, options);
    }
    return function (seconds) { return format.format(new Date(seconds * 1000)); };
  }

  // ---- the time axis ----------------------------------------------------------------------
  // Tick steps per bucket unit (seconds), so a tick never falls inside a bucket: hours for
  // 24 hours, whole days for 7/30/90 days, whole months for a year. uPlot aligns them to the
  // chosen zone (tzDate) and treats steps of 30 and 365 days as calendar months and years.
  var MIN = 60, HOUR = 3600, DAY = 86400, MONTH = 30 * DAY, YEAR = 365 * DAY;
  var TICK_STEPS = {
    minute: [MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY],
    hour: [HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY],
    day: [DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, MONTH, 2 * MONTH, 3 * MONTH, 6 * MONTH, YEAR],
    month: [MONTH, 2 * MONTH, 3 * MONTH, 6 * MONTH, YEAR, 2 * YEAR, 5 * YEAR]
  };

  function formatter(zone, options) {
    options = Object.assign({ timeZone: zone }, options);
    try {
      return new Intl.DateTimeFormat(undefined, options);
    } catch (e) {
      delete options.timeZone;
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  // Tick labels in the chosen zone: "14:00" (with the date under the first tick of each day),
  // "Mar 4" (with the year under the first tick of each year), "Mar" (with the year likewise).
  function tickLabels(zone) {
    var time = formatter(zone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    var dayMonth = formatter(zone, { month: "short", day: "numeric" });
    var month = formatter(zone, { month: "short" });
    var year = formatter(zone, { year: "numeric" });
    var dayKey = formatter(zone, { year: "numeric", month: "2-digit", day: "2-digit" });
    return function (u, splits, axisIdx, space, incr) {
      var lastDay = null, lastYear = null;
      return splits.map(function (ts) {
        var date = new Date(ts * 1000);
        var y = year.format(date);
        if (incr < DAY) {
          var d = dayKey.format(date);
          var label = time.format(date);
          if (d !== lastDay) { label += "\n" + dayMonth.format(date); lastDay = d; }
          return label;
        }
        var text = incr < MONTH ? dayMonth.format(date) : month.format(date);
        if (y !== lastYear) { text += "\n" + y; lastYear = y; }
        return text;
      });
    };
  }

  // The labels the axes were last drawn with, on the chart element (data-x-ticks: pairs of
  // Unix seconds and label; data-y-ticks: labels), so that tests and tools can read them.
  function recordTicks(el, name, splits, labels) {
    var pairs = splits.map(function (v, i) { return [v, labels[i]]; });
    el.setAttribute(name, JSON.stringify(pairs));
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (value && value.trim()) || fallback;
  }

  // A tooltip next to the cursor: the bucket and both values (uPlot's legend shows them too).
  function tooltipPlugin(formatDate, unit) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement("div");
          tip.className = "chart-tooltip";
          tip.hidden = true;
          tip.setAttribute("aria-hidden", "true");
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", function () { tip.hidden = true; });
        },
        setCursor: function (u) {
          var i = u.cursor.idx;
          if (i == null || u.cursor.left < 0) { tip.hidden = true; return; }
          tip.textContent = "";
          var title = document.createElement("strong");
          title.textContent = formatDate(u.data[0][i]);
          tip.appendChild(title);
          [["Clicks", 1], ["Unique visitors", 2]].forEach(function (pair) {
            var line = document.createElement("div");
            line.textContent = pair[0] + ": " + numbers.format(u.data[pair[1]][i]);
            tip.appendChild(line);
          });
          tip.hidden = false;
          var width = u.over.clientWidth;
          var left = u.cursor.left + 14;
          if (left + tip.offsetWidth > width) left = u.cursor.left - tip.offsetWidth - 14;
          tip.style.left = Math.max(0, left) + "px";
          tip.style.top = Math.max(0, u.cursor.top - tip.offsetHeight - 10) + "px";
        }
      }
    };
  }

  function drawChart(el) {
    var data;
    try {
      data = JSON.parse(el.getAttribute("data-series") || "{}");
    } catch (e) {
      return;
    }
    if (!window.uPlot || !data.x || !data.x.length) return;
    var fallback = el.querySelector("[data-chart-fallback]");
    if (fallback) fallback.hidden = true;

    var zone = data.zone || "UTC";
    var unit = data.unit || "day";
    var formatDate = dateFormatter(zone, unit);
    var xLabels = tickLabels(zone);
    var step = data.x.length > 1 ? data.x[data.x.length - 1] - data.x[data.x.length - 2] : 86400;
    var accent = cssVar("--accent", "#4338ca");
    var teal = "#0f766e";
    var muted = cssVar("--muted", "#52525b");
    var grid = { stroke: "#e4e4e7", width: 1 };
    var height = el.clientWidth < 500 ? 220 : 280;
    var integerSteps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3,
      1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];
    var counted = function (u, value) { return value == null ? "–" : numbers.format(value); };

    var options = {
      width: Math.max(280, el.clientWidth),
      height: height,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), zone); },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { live: true },
      scales: {
        // One bucket of room after the last start, so the last bar is drawn in full.
        x: { time: true, range: function (u, min, max) { return [min, max + step]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 4]; } }
      },
      axes: [
        {
          label: "Time (" + zone + ")", labelSize: 22, stroke: muted, grid: grid,
          ticks: { stroke: "#d4d4d8" }, incrs: TICK_STEPS[unit] || TICK_STEPS.day,
          space: unit === "hour" || unit === "minute" ? 44 : 56, size: 62,
          values: function (u, splits, axisIdx, space, incr) {
            var labels = xLabels(u, splits, axisIdx, space, incr);
            recordTicks(el, "data-x-ticks", splits, labels);
            return labels;
          }
        },
        {
          label: "Clicks per " + unit, labelSize: 22, stroke: muted, grid: grid,
          ticks: { stroke: "#d4d4d8" }, incrs: integerSteps, size: 56,
          values: function (u, splits) {
            // Whole clicks only: a fractional split (never made with integerSteps) is unlabelled.
            var labels = splits.map(function (v) {
              return Math.round(v) === v ? numbers.format(v) : "";
            });
            recordTicks(el, "data-y-ticks", splits, labels);
            return labels;
          }
        }
      ],
      series: [
        { label: unit.charAt(0).toUpperCase() + unit.slice(1), value: function (u, ts) { return ts == null ? "–" : formatDate(ts); } },
        {
          label: "Clicks", stroke: accent, fill: "rgba(67, 56, 202, 0.35)", width: 1,
          paths: window.uPlot.paths.bars({ size: [0.7, 60], align: 1 }),
          points: { show: false }, value: counted
        },
        {
          label: "Unique visitors", stroke: teal, width: 2, value: counted,
          points: { show: data.x.length <= 40, size: 5, fill: teal }
        }
      ],
      plugins: [tooltipPlugin(formatDate, unit)]
    };
    var chart = new window.uPlot(options, [data.x, data.clicks, data.visitors], el);
    el.setAttribute("data-chart-ready", "true");

    var resize = function () {
      chart.setSize({ width: Math.max(280, el.clientWidth), height: height });
    };
    if (window.ResizeObserver) {
      var pending = null;
      new ResizeObserver(function () {
        if (pending) cancelAnimationFrame(pending);
        pending = requestAnimationFrame(resize);
      }).observe(el);
    } else {
      window.addEventListener("resize", resize);
    }
  }

  // ---- QR code colour pickers -------------------------------------------------------------

  var HEX = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i;

  function sixDigits(value) {
    var match = HEX.exec((value || "").trim());
    if (!match) return null;
    var digits = match[1];
    if (digits.length === 3) digits = digits.replace(/(.)/g, "$1$1");
    return "#" + digits.toLowerCase();
  }

  function wirePicker(picker) {
    var field = document.getElementById(picker.getAttribute("data-color-for"));
    if (!field) return;
    var sync = function () {
      var hex = sixDigits(field.value);
      if (hex) picker.value = hex;
    };
    sync();
    picker.hidden = false;
    field.addEventListener("input", sync);
    picker.addEventListener("input", function () {
      field.value = picker.value;
      field.dispatchEvent(new Event("input", { bubbles: true }));
    });
    picker.addEventListener("change", function () {
      field.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function init() {
    document.querySelectorAll("form[data-analytics-filters]").forEach(wireFilters);
    document.querySelectorAll("#timeseries-chart[data-series]").forEach(drawChart);
    document.querySelectorAll("input[data-color-for]").forEach(wirePicker);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
