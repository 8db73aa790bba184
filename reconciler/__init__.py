"""ps2moodle: PowerSchool to Moodle as reviewed code.

The package is named ``reconciler``; the distribution and command are ``ps2moodle``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
