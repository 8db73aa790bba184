"""An emulated Moodle 4.5 site, held to the recordings of a real one (``shared/golden/moodle``).

The REST web-service protocol (``/webservice/rest/server.php``) as Moodle runs it:
token and user checks before the function lookup; PHP's parsing of ``a[0][b]=...``
form fields, ``max_input_vars`` included (the first ``max_input_vars + 1`` survive);
strict parameter validation with Moodle's debuginfo paths; the exact error envelopes
(``debuginfo`` only with ``debug``); JSON and the XML default; and the semantics of
the 39 functions the recordings cover (users, categories, courses and their contents,
enrolments, roles, cohorts, groups, site info, graded work): uniqueness and case rules,
all-or-nothing versus partial batches, ids burnt by rolled-back inserts, escaped names
unless ``moodlewssettingraw``, empty fields left out, storage order of unordered reads;
summaries and descriptions through the emoticon and urltolink filters with
``moodlewssettingfilter=1``. Three more, from Moodle's source and outside the recorded
service until a test adds them: core_enrol_get_enrolled_users_with_capability,
core_group_update_groups, core_group_get_course_user_groups.

Public API::

    from ps2moodle_testkit.emulators.moodle import CostModel, MoodleSite, moodle_transport, serve_moodle

    site = MoodleSite.fresh(token="t0k", debug=False)    # the recorded starting state
    client = httpx.Client(transport=site.transport(), base_url="http://moodle.test")
    server = site.serve(port=0)      # HTTP on 127.0.0.1 (a thread): server.url, server.close()

    # out-of-band setup steps (the {"setup": ...} lines of _sequence.jsonl)
    site.setup("unsuspend", 2)       # also delete_manual COURSE, disable_manual COURSE,
    site.setup("ctx", 2)             # ctx COURSE -> the course's context id
    site.setup("set_grade", 2, "Essay 1", 3, "85")   # and add_graded_item, add_service_function
    site.test_hooks = True           # and over HTTP: POST /_emulator/setup {"setup", "args"}

    # configuration knobs (what `ps2moodle doctor` looks for)
    site.remove_function("core_user_get_users")      # out of the token's service
    site.add_function("core_group_update_groups")    # into it (HTTP: setup add_service_function NAME)
    site.remove_role("teacher")
    site.remove_profile_field("gradelevel")
    site.add_profile_field("studentid", "Student ID")
    site.config.installed_auths = ...                # and config.enabled_auths
    site.config.max_input_vars = 1000
    site.config.debug = True
    site.add_token("other"); site.revoke_token("t0k")

    # faults (fewer than asked for never happen; each call takes the next one)
    site.faults.latency_s = 0.05                     # every call
    site.faults.slow_next(1, seconds=30)             # long enough for a client timeout
    site.faults.fail_next(2, status=503)             # a proxy's 5xx; Moodle never sees the call
    site.faults.fail_next(1, after_processing=True)  # the call runs, a proxy answers 503
    site.faults.truncate_next(1)                     # the call runs, its answer is cut in half
    site.faults.drop_next(1, after_processing=True)  # the call runs, the reply is lost
    site.faults.deadlock_next(1)                     # the next row-locking write: a deadlock victim

    # cost model: 20 ms a call + calibrated ms per item, at most 4 calls served at once;
    # with it, writes hold the rows they lock while they run (site.row_locks): a write that
    # needs another's rows waits, or is a deadlock victim if it takes them in another order
    site.cost = CostModel()          # or CostModel(per_call_ms=..., per_item_ms={...}, max_concurrent=...)

``moodle_transport(site)`` and ``serve_moodle(site, port)`` are the same two ways in as
functions; ``MoodleHandler`` is the core as a :mod:`ps2moodle_testkit.emulators.http` handler.
``MoodleSite(clock=...)`` takes an injectable clock. The test hook is reachable only
when enabled, and the server listens on loopback only.
"""

from ps2moodle_testkit.emulators.moodle.faults import CostModel, Faults
from ps2moodle_testkit.emulators.moodle.site import MoodleSite, SiteConfig
from ps2moodle_testkit.emulators.moodle.transport import MoodleHandler, moodle_transport, serve_moodle

__all__ = ["CostModel", "Faults", "MoodleHandler", "MoodleSite", "SiteConfig", "moodle_transport", "serve_moodle"]
