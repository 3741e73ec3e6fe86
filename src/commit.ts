/** The commit the binary was built from; build/ stamps it while compiling. */
export const COMMIT = "development tree";
