/** The one error class of src/emulator: a bad config file, a port it cannot bind, ... */
export class EmulatorError extends Error {
  override name = "EmulatorError";
}
