// Extended attributes (sys/xattr.h) are not in Swift's Glibc module. PatchKeeper copies them
// (ACLs, SELinux labels, file capabilities) from a live file onto its replacement.
#include <sys/types.h>
#include <sys/xattr.h>
