#!/bin/sh
# Post-processing: sum the ids the 16 peers wrote into $OUTPUT_DIR/sum_id.txt (1+2+...+16 = 136).
# The peers of every node wrote into OUTPUT_DIR/<id>/, the same layout as a local run.
set -eu
exec python3 "$EXPERIMENT_DIR/sum_ids.py"
