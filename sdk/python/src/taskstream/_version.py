"""The SDK's version, sent to the dispatcher in Register as ``python/<version>``."""

SDK_VERSION = "0.1.0"
SDK_NAME = f"python/{SDK_VERSION}"
