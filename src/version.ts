/** The release version: the one place it is set. build/ and `--version` read it. */
export const VERSION = "0.1.0";
