"""The plan, whole: its model (:mod:`.model`), how it is computed (:mod:`.diff`), judged
(:mod:`.safety`), saved and read back (:mod:`.file`), and checked against Moodle before
apply (:mod:`.stale`). Pure but for the file; nothing here renders or talks to a server."""
