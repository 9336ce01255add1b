"""chshim: a test-only ClickHouse HTTP endpoint over one chDB store.

chDB lets one process open a data folder, so linkhop's separate processes (``linkhop api``,
``linkhop worker``) cannot share an embedded store, and no modern ClickHouse server installs on
these machines (issue 3, section 5). The shim owns the store and answers the subset of the
ClickHouse HTTP interface that clickhouse-connect's HTTP client uses; the SQL engine underneath is
real ClickHouse (chDB). It lives in ``tests/`` on purpose: it is not a product component.

Run it with ``python -m tests.chshim.server --port 8123 --path /tmp/store`` from the repo root,
or from a test with ``tests.chshim.launcher.running_shim``.
"""
