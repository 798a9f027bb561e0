"""A run directory: its files (:mod:`.directory`), what a run writes into it as it goes
(:mod:`.recorder`), the plugins' ``run_state`` it commits (:mod:`.run_state`), what a
resumed run reads back (:mod:`.restore`) and the fingerprint of the data it read
(:mod:`.inputs`). The layout is described in :mod:`pgkd.store`."""
