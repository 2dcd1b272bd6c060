# Empty dependencies file for sts_collector.
# This may be replaced when dependencies are built.
