import PatchKeeperCLI
PatchKeeperMain.main()
