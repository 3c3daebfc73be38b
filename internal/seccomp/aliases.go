package seccomp

// aliasGroup is a set of system calls that reach the same kernel operation
// by different doors: the old call and its *at, flags-taking or 64-bit-time
// successor, or several interfaces to one facility. Blocking one member
// while another stays allowed usually blocks nothing, because libc and
// programs use whichever exists (glibc on x86_64 implements chmod(3) with
// fchmodat(2), and aarch64 has no chmod(2) at all).
type aliasGroup struct {
	what  string // the operation, completing "which also ..."
	names []string
}

// aliasGroups is the table Validate warns from. Only true equivalents are
// listed: open_by_handle_at is not an alias of open (it bypasses path
// permissions, which is why Docker gates it on CAP_DAC_READ_SEARCH), fork
// is not an alias of clone (it cannot create namespaces, the only thing
// the clone flags rule is about), and clone3 answered with ENOSYS is not a
// block but a redirect to clone, whose flags can be filtered; Validate
// therefore never counts an ENOSYS rule as blocking.
var aliasGroups = []aliasGroup{
	{"changes a file's mode", []string{"chmod", "fchmod", "fchmodat", "fchmodat2"}},
	{"changes a file's owner", []string{"chown", "fchown", "lchown", "fchownat"}},
	{"opens or creates a file", []string{"open", "openat", "openat2", "creat"}},
	{"renames a file", []string{"rename", "renameat", "renameat2"}},
	{"removes a directory entry", []string{"unlink", "unlinkat", "rmdir"}},
	{"creates a directory", []string{"mkdir", "mkdirat"}},
	{"creates a device node or FIFO", []string{"mknod", "mknodat"}},
	{"creates a hard link", []string{"link", "linkat"}},
	{"creates a symbolic link", []string{"symlink", "symlinkat"}},
	{"reads a symbolic link", []string{"readlink", "readlinkat"}},
	{"duplicates a file descriptor", []string{"dup", "dup2", "dup3"}},
	{"executes a program", []string{"execve", "execveat"}},
	{"creates a process or thread", []string{"clone", "clone3"}},
	{"forks", []string{"fork", "vfork"}},
	{"creates a pipe", []string{"pipe", "pipe2"}},
	{"checks access to a file", []string{"access", "faccessat", "faccessat2"}},
	{"reads a file's status", []string{"stat", "lstat", "fstat", "newfstatat", "statx"}},
	{"sets a file's times", []string{"utime", "utimes", "futimesat", "utimensat"}},
	{"truncates a file", []string{"truncate", "ftruncate"}},
	{"sets an extended attribute", []string{"setxattr", "lsetxattr", "fsetxattr", "setxattrat"}},
	{"reads an extended attribute", []string{"getxattr", "lgetxattr", "fgetxattr", "getxattrat"}},
	{"lists extended attributes", []string{"listxattr", "llistxattr", "flistxattr", "listxattrat"}},
	{"removes an extended attribute", []string{"removexattr", "lremovexattr", "fremovexattr", "removexattrat"}},
	{"mounts a file system", []string{"mount", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr"}},
	{"unmounts a file system", []string{"umount", "umount2"}},
	{"sends a signal", []string{"kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo"}},
	{"changes user IDs", []string{"setuid", "setreuid", "setresuid", "setfsuid"}},
	{"changes group IDs", []string{"setgid", "setregid", "setresgid", "setfsgid"}},
	{"reads or writes another process's memory", []string{"ptrace", "process_vm_readv", "process_vm_writev"}},
	{"loads a kernel module", []string{"init_module", "finit_module"}},
	{"sets the system clock", []string{"settimeofday", "clock_settime"}},
	{"accepts a connection", []string{"accept", "accept4"}},
	{"creates an eventfd", []string{"eventfd", "eventfd2"}},
	{"creates a signalfd", []string{"signalfd", "signalfd4"}},
	{"creates an inotify instance", []string{"inotify_init", "inotify_init1"}},
	{"creates an epoll instance", []string{"epoll_create", "epoll_create1"}},
	{"reads directory entries", []string{"getdents", "getdents64"}},
}
