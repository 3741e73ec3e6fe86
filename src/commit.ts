/** The commit the binary was built from; build.ts stamps it while compiling. */
export const COMMIT = "development tree";
