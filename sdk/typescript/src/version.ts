/** The SDK's version, sent to the dispatcher in Register as `typescript/<version>`. */
export const SDK_VERSION = "0.2.0";

/** The `sdk` field of Register. */
export const SDK_NAME = `typescript/${SDK_VERSION}`;
