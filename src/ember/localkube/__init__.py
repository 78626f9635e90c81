"""Local Kubernetes substrate: an API emulator and a process kubelet, for development and tests."""
