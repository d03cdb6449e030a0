"""Tools that fill a database — the demo program and a large generated one — run from the
command line. Not services: they take no acting user and bypass the access rules on purpose."""
