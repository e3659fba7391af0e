#!/bin/sh
# Runs after the package's files are removed (deb: "remove"/"purge"; rpm: 0 on erase, 1
# on upgrade). Users' own files live in their home directories and keychains, which a
# package must not touch: this only says what is left and how to remove it.
case "$1" in
  remove | 0)
    cat <<'MSG'
Cursor Bridge was removed. Each user's own files were kept:
  - settings:   ~/.config/cursor-bridge
  - usage data and logs: ~/.local/share/cursor-bridge
  - the Cursor sign-in, in the keychain (Secret Service item "cursor-bridge")
  - launch at login, if it was on: "~/.config/autostart/Cursor Bridge.desktop"
To remove them: sign out first with `cursor-bridge logout` (reinstall the package if it is
already gone), or delete the "cursor-bridge" item in your keychain app; then
  rm -r ~/.config/cursor-bridge ~/.local/share/cursor-bridge "$HOME/.config/autostart/Cursor Bridge.desktop"
MSG
    ;;
esac
exit 0
