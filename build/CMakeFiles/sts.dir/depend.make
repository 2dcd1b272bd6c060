# Empty dependencies file for sts.
# This may be replaced when dependencies are built.
