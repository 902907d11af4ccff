"""Reports: every cell's deployment and every test as Allure results, the Allure 3 HTML with its
trend, and the matrix grid (HTML, Markdown, JUnit). Reads what the runner wrote; never calls it.

    build/cells/<cell>/result.json ──allure_cells──┐
    suites (allure-pytest + pytest_plugin) ────────┼─> build/allure-results/ ──html──> build/allure-report/
    environment, executor, categories ─────────────┘        (allurerc.mjs, history JSONL)
    build/cells/<cell>/result.json ──grid──> grid_html (build/grid/index.html), summary_md, junit

Parts, one purpose each:
* `labels`        cell -> Allure labels, parameters, history ids (shared by the two writers below)
* `allure_cells`  CellResult -> one Allure test per cell, steps, attachments
* `pytest_plugin` `-p reports.pytest_plugin`: labels allure-pytest results with their cell
* `categories`    failure categories and their message patterns (Allure 2 and 3, and Python)
* `outcome`       the one-line cause of a cell's failure, its category
* `environment`   environment.properties; `executor`: CI detection (`detect_ci`) and executor.json
* `allurerc`      the generated Allure 3 config; `history`: the trend file; `html`: the CLI run
* `grid`          the matrix model; `grid_html`, `summary_md`, `junit`: its renderings
* `merge`         CI shards into one build; `publish`: the report and its history to S3
* `build`         `build_report()`: all of the above, in order; `cli`: `python -m matrix report`
* `files`         every write goes through matrix.redact here
"""
