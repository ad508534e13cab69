// SystemdContract: procmand without systemd giving its children NOTIFY_SOCKET and LISTEN_FDS,
// and its own READY/RELOADING/STOPPING upwards (tests follow in the next commit).
