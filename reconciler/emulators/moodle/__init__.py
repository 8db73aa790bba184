"""An emulated Moodle 4.5 site, faithful to the recordings in ``shared/golden/moodle``.

The REST web-service protocol (``/webservice/rest/server.php``) with Moodle's token
checks, PHP form parsing and ``max_input_vars``, strict parameter validation, exact
error envelopes (``debuginfo`` only in debug mode), JSON and XML, and the real
semantics of the 36 functions the reconciler uses.

Public API::

    from reconciler.emulators.moodle import MoodleSite, moodle_transport, serve_moodle

    site = MoodleSite.fresh(token="t0k", debug=False)   # the recorded starting state
    client = httpx.Client(transport=site.transport(), base_url="http://moodle.test")
    server = site.serve(port=0)          # HTTP on 127.0.0.1; server.url, server.close()

    site.setup("unsuspend", 2)           # out-of-band steps: unsuspend, delete_manual,
                                         # disable_manual, ctx (returns a context id)
    site.test_hooks = True               # also as POST /_emulator/setup {"setup", "args"}

    # configuration knobs
    site.remove_function("core_user_get_users")
    site.remove_role("teacher")
    site.remove_profile_field("gradelevel")
    site.add_profile_field("studentid", "Student ID")
    site.config.enabled_auths = ("email",)          # installed_auths for what exists
    site.config.max_input_vars = 1000
    site.revoke_token("t0k")

    # faults and costs
    site.faults.latency_s = 0.05
    site.faults.fail_next(2, status=503)
    site.faults.drop_next(1, after_processing=True)
    site.faults.slow_next(1, seconds=30)
    site.cost = CostModel()              # ~20 ms a call + measured per-item costs

``moodle_transport(site)`` and ``serve_moodle(site, port)`` are the same two ways in as
functions. ``MoodleSite(clock=...)`` takes an injectable clock.
"""

from reconciler.emulators.moodle.faults import CostModel, Faults
from reconciler.emulators.moodle.site import MoodleSite, SiteConfig
from reconciler.emulators.moodle.transport import MoodleHandler, moodle_transport, serve_moodle

__all__ = ["CostModel", "Faults", "MoodleHandler", "MoodleSite", "SiteConfig", "moodle_transport", "serve_moodle"]
