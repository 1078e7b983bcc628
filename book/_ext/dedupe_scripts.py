"""Sphinx extension: drop repeated inline <script> blocks from each page.

With Jupyter Book 1.x, sphinx-thebe and sphinx-togglebutton register their inline configuration
scripts more than once, so every page declared ``const THEBE_JS_URL`` several times and the browser
raised "Identifier 'THEBE_JS_URL' has already been declared". Keeping the first copy of each
identical script removes the error without changing what the page does.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # Same file and attributes (an inline script's text is its "body" attribute); priority ignored.
        # An inline script's filename is None or "" depending on who added it.
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
