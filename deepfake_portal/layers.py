"""The apps in layers, from the ground up: an app imports only apps of the layers below its own.

``ml/`` (no Django) lies under all of them and this project package (settings, URLs, Celery) over and beside
them; both may be imported from anywhere. Apps of one layer do not import each other. Where a lower app must
ask or tell a higher one something, the higher one plugs in at start-up (its ``AppConfig.ready``): a signal
receiver (``detection.signals``), a report section (``detection.reports.add_section``), the serving model
(``detection.detector.serve_from``). tests/portal/test_layout.py holds the code to this table.
"""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("detection",),  # uploads, jobs, the detector's verdicts, reports
    ("provenance",),  # Content Credentials and AI labels of an upload
    ("moderation",),  # people review flagged jobs; the health page
    ("registry",),  # model versions, gated and retrained on the moderators' reviews
    ("accounts", "api"),  # the faces for people (sign-up, profile) and for programs (REST, webhooks)
    ("live",),  # the webcam check, signed in with the API's tokens
)
