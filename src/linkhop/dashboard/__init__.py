"""The web dashboard under ``/app``: server-rendered Jinja2 pages, enhanced with htmx.

See ``docs/dashboard.md`` for the page conventions and ``docs/decisions/0012`` for the choice.
"""
