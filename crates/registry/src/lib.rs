//! OCI registry access (tag listing with auth, pagination and rate limits) and the pure tag
//! policies (semver, newest-build, digest, alphabetical, numerical) of the image updater.
