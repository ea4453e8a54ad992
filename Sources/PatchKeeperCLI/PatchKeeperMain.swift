public enum PatchKeeperMain { public static func main() {} }
