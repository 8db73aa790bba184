"""Reading PowerSchool into a :class:`~reconciler.powerschool.roster.Roster`.

- ``roster``: the frozen roster model the rest of the tool codes against;
- ``source``: the entry points (``fetch_roster`` for a configured connection);
- ``client``: authenticated, retried HTTP; ``paging``: counted pages, never short;
- ``quirks``: every serialization quirk of the API, normalized in one place;
- ``records``: PowerSchool records and table rows to roster objects (pure);
- ``discovery``: the starter ``school_settings`` block of ``ps2moodle discover``.
"""
