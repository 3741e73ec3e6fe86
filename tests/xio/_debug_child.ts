// Child process for the debug file tests: logs one ERROR line through the process-wide
// logger of GLOBUS_STREAMS_DEBUG, then exits.
import { defaultDebugLog } from "../../src/xio/mod.ts";

defaultDebugLog().log("ERROR", "xio", "hello from the child");
defaultDebugLog().close();
