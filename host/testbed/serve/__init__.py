"""`testbed serve`: a live, read-only dashboard over the results store; the same pages as static files.

    queries.py     what the pages read from the store, as typed rows (boards, runs, a cell across runs)
    figures.py     interactive plots as plotly figure specs (plain JSON; plotly.js draws them in the page)
    links.py       where a page links to: the server's routes, or the files of a static export
    pages/         one module per page: it gathers its data and renders its template (templates/)
    auth.py        the optional bearer token (header, or ``?token=`` once, then a cookie)
    app.py         the Flask app: GET routes onto the pages, nothing that writes; served by waitress
    export.py      a run's pages written to a directory (`testbed report RUN --html DIR`)

Read-only by construction: the store is opened read-only (``Store(url, read_only=True)``: SQLite's
``mode=ro``, PostgreSQL's read-only transactions) and every route answers GET only. Scripts and
styles are served from this package and from the installed plotly package; nothing is fetched from
elsewhere, so the pages work on a lab network without internet.
"""
