"""Android over adb: push artifacts and the user's native benchmark binaries, run them, parse them."""
