"""An emulated PowerSchool SIS: the API of reference/powerschool-api.md over a generated district.

Build one with ``PowerSchoolEmulator(generate_district("small"))`` and reach it in process
through ``emulator.transport()`` or over loopback HTTP through ``emulator.serve()``.
"""

from ps2moodle_testkit.emulators.powerschool.core import Faults, Plugin, PowerSchoolEmulator
from ps2moodle_testkit.emulators.powerschool.wire import Quirks

__all__ = ["Faults", "Plugin", "PowerSchoolEmulator", "Quirks"]
