#!/usr/bin/env python3
"""Checks that every `#include "pkg/x.h"` of a C++ target names a header of a target in its deps.

Reads the BUILD.bazel files git knows (they are plain Starlark calls, evaluated here with
stand-ins for the rules) and the sources they list. Prints each include whose owner is
missing from the including target's deps; exits 1 if there is any. Run from the repository
root (tools/test runs it before the tests).
"""
import os
import re
import subprocess
import sys

root=sys.argv[1] if len(sys.argv)>1 else '.'
targets={}  # label -> dict
hdr_owner={}
def load_build(pkg, path):
    env={}
    def rule(kind):
        def f(name=None, srcs=(), hdrs=(), deps=(), **kw):
            label=f'//{pkg}:{name}'
            targets[label]=dict(kind=kind,pkg=pkg,srcs=list(srcs),hdrs=list(hdrs),deps=[norm(pkg,d) for d in deps])
        return f
    for k in ['cc_library','cc_test','cc_binary','kiln_fuzzer']: env[k]=rule(k)
    for k in ['package','load','exports_files','config_setting','package_group','sh_test','filegroup','sh_binary','genrule','test_suite','alias']: env[k]=lambda *a,**kw: None
    env['glob']=lambda *a,**kw: []
    env['select']=lambda d: list(d.values())[0]
    exec(open(path).read(), env)
def norm(pkg,d):
    if d.startswith(':'): return f'//{pkg}{d}'
    if d.startswith('//') and ':' not in d: return d+':'+d.rsplit('/',1)[-1]
    return d
for b in [os.path.join(root,x) for x in subprocess.check_output(['git','-C',root,'ls-files','*BUILD.bazel']).decode().split()]:
    rel=os.path.relpath(os.path.dirname(b),root)
    if rel.startswith('third_party') or rel.startswith('bazel-'): continue
    load_build('' if rel=='.' else rel, b)
for label,t in targets.items():
    for h in t['hdrs']+[s for s in t['srcs'] if s.endswith('.h')]:
        hdr_owner.setdefault(f"{t['pkg']}/{h}",label)
bad=0
for label,t in sorted(targets.items()):
    for f in t['srcs']+t['hdrs']:
        p=os.path.join(root,t['pkg'],f)
        if not os.path.exists(p): continue
        for inc in re.findall(r'^#include "([^"]+)"',open(p).read(),re.M):
            owner=hdr_owner.get(inc)
            if owner is None or owner==label: continue
            if owner not in t['deps']:
                print(f'{label}: {f} includes {inc} from {owner}, not in deps'); bad+=1
print(f'{bad} undeclared includes', file=sys.stderr)
sys.exit(1 if bad else 0)
