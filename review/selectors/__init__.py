"""Reads for review, filtered by who asks: `access` (who may review a phase, conflicts of
interest, the algorithms a reviewer sees), `queues` (the phase's review queues) and `cases`
(one case with its truth, predictions, verdicts and flags); for reader studies `reading`
(reading lists, progress, merge preview, agreement) and `reference` (human reference rows)."""
