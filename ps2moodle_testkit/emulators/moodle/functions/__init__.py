"""The web-service functions, one module per area.

Each module declares its functions with :func:`~..registry.external`: the signature
(parameters and return value, as Moodle 4.5 declares them) and an implementation that
works on the :class:`~..site.MoodleSite` of the call.
"""
