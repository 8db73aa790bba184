"""``ps2moodle serve``: the seed's "change sync over HTTPS" as a long-running service.

A scheduled full sync, plus a debounced one whenever PowerSchool notifies a change; each
run plans, saves the plan for review and, only with ``serve.auto_apply`` and a plan the
safety gate passes on its own, applies it. One module per job:

- :mod:`~reconciler.serve.webhook`: is a notification genuine, what does it name (pure);
- :mod:`~reconciler.serve.schedule`: when the next run is due (pure);
- :mod:`~reconciler.serve.sync`: one run, end to end (the pipeline and plan files);
- :mod:`~reconciler.serve.health`: what ``/healthz`` says (pure);
- :mod:`~reconciler.serve.https`: the HTTPS-only server;
- :mod:`~reconciler.serve.service`: the routes and the worker, tied together.
"""
