# Empty dependencies file for sts-collector.
# This may be replaced when dependencies are built.
