"""A run shaped like a monitoring run (tag ``monitoring``, an ``html`` step returning the
report), for the UI's reports page."""

from lamina import Flow

flow = Flow("ui_monitor")


@flow.step
def summary() -> dict:
    return {"drifted": 1}


@flow.step
def html(summary: dict) -> str:
    return ("<!DOCTYPE html><html><body><h1 id='report'>Drift report</h1>"
            f"<p>{summary['drifted']} column drifted</p>"
            "<script>document.title = 'script ran'</script></body></html>")
