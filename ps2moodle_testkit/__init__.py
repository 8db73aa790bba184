"""The test kit of ps2moodle: emulated PowerSchool and Moodle, a sample-district generator,
the demo and the district-scale benchmark.

It ships in the same distribution as the product (so ``ps2moodle emulate`` and
``ps2moodle demo`` work from a normal install) but is not part of it: it imports
``reconciler`` freely, while ``reconciler`` never imports anything from here (a test
walks every product module to hold that). Its commands reach the product's command line
through the ``ps2moodle.commands`` entry-point group.
"""
