#!/bin/sh
# Post-processing of the tutorial: sum the ids the peers wrote into $OUTPUT_DIR/sum_id.txt.
# gscen runs it in the experiment's folder with OUTPUT_DIR and EXPERIMENT_DIR set, as Gumby did.
set -eu
exec python3 "$EXPERIMENT_DIR/sum_ids.py"
