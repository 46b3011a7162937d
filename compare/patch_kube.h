/* kctl patch on Kubernetes: the mutable mode on the pods of a Deployment. Every pod
 * is edited in place over exec (kube_pods.h): --exec runs a command, --copy streams a
 * tar into `tar -x`, --to-image applies the file difference between the image the pod
 * runs (status.containerStatuses[].imageID) and a target image, computed from registry
 * file indexes as on Docker (deletions by rm, content as one tar). A pod is never
 * restarted (the kubelet would start a fresh container from the image and lose the
 * edit); --signal sends a signal to the pod's PID 1 instead (`kill -SIG 1` over exec).
 * --to-image signals SIGHUP by default (the demo app re-reads its files on it);
 * o->signal "none" sends nothing. Pods whose images share a digest share one computed
 * difference; a pod already moved by --to-image is taken from the journal's digest.
 * Each pod's step is appended to the patch journal (fsync'd, compare/journal.h;
 * --to-image: op to-image, digest = the target's digest; a signal is a line of its
 * own) before it is reported, and recorded as the pod annotation io.kctl.patch.
 * Results use the Docker mode's kc_patch_result: replicas are pods (id and name are
 * the pod's name; digest is the journal line's; journaled/annotated are set). */
#ifndef KC_COMPARE_PATCH_KUBE_H
#define KC_COMPARE_PATCH_KUBE_H

#include "compare/patch.h"
#include "shim/base/error.h"

struct kc_kube;

/* The pod annotation holding a pod's last patch, with the journal line's fields:
 * {"patchId","op","digest","outcome","time","error"?}, plus "signal" and
 * "signalOutcome" when a signal was sent after the edit. */
#define KC_PATCH_KUBE_ANNOTATION "io.kctl.patch"
/* Set by --to-image: "repo@sha256:..." of the image the pod's files now match. The
 * next --to-image diffs from it when the journal (local to one machine) does not
 * know the pod, so a Job or another workstation patches from the right base. */
#define KC_PATCH_KUBE_FILES_FROM "io.kctl.files-from"

/* o->app is the Deployment's name; o->restart is refused (see above); o->docker_host is
 * ignored; o->parallel pods are edited at once (0: 1); o->on_event gets progress lines.
 * Same contract as kc_patch_run: 0 when every pod succeeded, else -1 with *err and res
 * still filled (outcomes per pod, res->partial). Nothing is touched when the target
 * does not resolve or a pod's image cannot be indexed (res->n is 0 then). Every pod
 * applied but an annotation missing is also -1 (KC_E_REMOTE), with res->ok == res->n. */
int kc_patch_kube_run(struct kc_kube *k, const struct kc_patch_opts *o, struct kc_patch_result *res,
		      kc_err_t *err);

#endif
