package selinux

import "path/filepath"

// XattrName is the extended attribute that holds a file's SELinux label:
// the build writes it into the image's filesystems (osbuild/labeling) and
// the offline reader reads it back (osbuild/labels).
const XattrName = "security.selinux"

// FileContexts is the path of policy's compiled file_contexts in the tree
// at root ("/" on the node).
func FileContexts(root, policy string) string {
	return filepath.Join(root, "etc/selinux", policy, "contexts/files/file_contexts")
}
