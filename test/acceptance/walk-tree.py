#!/usr/bin/env python3
"""Describes every path under a directory as JSON (the umoci reference for the acceptance test)."""
import hashlib, json, os, stat, sys

root = sys.argv[1]
out = {}
for dirpath, dirnames, filenames in os.walk(root):
    names = dirnames + filenames
    paths = [dirpath] if dirpath == root else []
    paths += [os.path.join(dirpath, n) for n in names]
    for path in paths:
        rel = os.path.relpath(path, root)
        rel = '' if rel == '.' else rel
        if rel in out:
            continue
        st = os.lstat(path)
        kind = {stat.S_IFREG: 'file', stat.S_IFDIR: 'dir', stat.S_IFLNK: 'symlink', stat.S_IFCHR: 'char', stat.S_IFBLK: 'block', stat.S_IFIFO: 'fifo', stat.S_IFSOCK: 'socket'}[stat.S_IFMT(st.st_mode)]
        node = {'type': kind, 'mode': stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid, 'mtime': int(st.st_mtime), 'inode': st.st_ino, 'links': st.st_nlink}
        if kind == 'file':
            node['size'] = st.st_size
            h = hashlib.sha256()
            with open(path, 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    h.update(chunk)
            node['sha256'] = h.hexdigest()
        if kind == 'symlink':
            node['linkTarget'] = os.readlink(path)
        if kind in ('char', 'block'):
            node['devMajor'] = os.major(st.st_rdev)
            node['devMinor'] = os.minor(st.st_rdev)
        xattrs = {}
        if kind != 'symlink':
            for name in os.listxattr(path, follow_symlinks=False):
                xattrs[name] = os.getxattr(path, name, follow_symlinks=False).hex()
        node['xattrs'] = xattrs
        out[rel] = node
json.dump(out, sys.stdout, sort_keys=True)
