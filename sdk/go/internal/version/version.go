// Package version holds the Go SDK's version, sent to the dispatcher in Register as "go/<version>".
package version

// Version of the Go SDK.
const Version = "0.1.0"

// SDKName is the Register message's sdk field.
const SDKName = "go/" + Version
