/* Path-compressed trie. Each node carries the bytes of the edge that leads to
   it; children are kept sorted by their first byte and found by binary search. */
#include "pubsub/trie.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sp_trie_node {
    uint8_t *seg;                 /* edge label from the parent */
    size_t seglen;
    uint32_t refs;                /* subscriptions ending exactly here */
    struct sp_trie_node **kids;   /* sorted by seg[0] */
    size_t nkids;
};

static struct sp_trie_node *node_new(const uint8_t *seg, size_t len)
{
    struct sp_trie_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    if (len) {
        n->seg = malloc(len);
        if (!n->seg) {
            free(n);
            return NULL;
        }
        memcpy(n->seg, seg, len);
    }
    n->seglen = len;
    return n;
}

static void node_free(struct sp_trie_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->seg);
    free(n);
}

/* Index of the child starting with byte b, or where it would go (*found). */
static size_t kid_find(const struct sp_trie_node *n, uint8_t b, bool *found)
{
    size_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint8_t m = n->kids[mid]->seg[0];
        if (m == b) {
            *found = true;
            return mid;
        }
        if (m < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int kid_insert(struct sp_trie_node *n, size_t at, struct sp_trie_node *kid)
{
    struct sp_trie_node **k = realloc(n->kids, (n->nkids + 1) * sizeof *k);
    if (!k)
        return -ENOMEM;
    n->kids = k;
    memmove(k + at + 1, k + at, (n->nkids - at) * sizeof *k);
    k[at] = kid;
    n->nkids++;
    return 0;
}

static void kid_remove(struct sp_trie_node *n, size_t at)
{
    memmove(n->kids + at, n->kids + at + 1, (n->nkids - at - 1) * sizeof *n->kids);
    n->nkids--;
}

void sp_trie_init(struct sp_trie *t)
{
    t->root = NULL;
}

void sp_trie_term(struct sp_trie *t)
{
    node_free(t->root);
    t->root = NULL;
}

int sp_trie_subscribe(struct sp_trie *t, const uint8_t *data, size_t len)
{
    if (!t->root && !(t->root = node_new(NULL, 0)))
        return -ENOMEM;
    struct sp_trie_node *n = t->root;
    size_t pos = 0;
    for (;;) {
        if (pos == len) {
            n->refs++;
            return 0;
        }
        bool found;
        size_t at = kid_find(n, data[pos], &found);
        if (!found) {
            struct sp_trie_node *kid = node_new(data + pos, len - pos);
            if (!kid)
                return -ENOMEM;
            if (kid_insert(n, at, kid) != 0) {
                node_free(kid);
                return -ENOMEM;
            }
            kid->refs = 1;
            return 0;
        }
        struct sp_trie_node *kid = n->kids[at];
        size_t k = 0;
        while (k < kid->seglen && pos + k < len && kid->seg[k] == data[pos + k])
            k++;
        if (k < kid->seglen) {
            /* Split the edge: a new node for the common part. */
            struct sp_trie_node *mid = node_new(kid->seg, k);
            uint8_t *rest = malloc(kid->seglen - k);
            if (!mid || !rest || !(mid->kids = malloc(sizeof *mid->kids))) {
                node_free(mid);
                free(rest);
                return -ENOMEM;
            }
            memcpy(rest, kid->seg + k, kid->seglen - k);
            free(kid->seg);
            kid->seg = rest;
            kid->seglen -= k;
            mid->kids[0] = kid;
            mid->nkids = 1;
            n->kids[at] = mid;
            kid = mid;
        }
        n = kid;
        pos += k;
    }
}

/* Merges a node that has no subscription and one child with that child. */
static void compact(struct sp_trie_node *parent, size_t at)
{
    struct sp_trie_node *n = parent->kids[at];
    if (n->refs == 0 && n->nkids == 0) {
        kid_remove(parent, at);
        node_free(n);
        return;
    }
    if (n->refs == 0 && n->nkids == 1) {
        struct sp_trie_node *kid = n->kids[0];
        uint8_t *seg = malloc(n->seglen + kid->seglen);
        if (!seg)
            return; /* stays uncompressed: still correct */
        memcpy(seg, n->seg, n->seglen);
        memcpy(seg + n->seglen, kid->seg, kid->seglen);
        free(kid->seg);
        kid->seg = seg;
        kid->seglen += n->seglen;
        n->nkids = 0;
        parent->kids[at] = kid;
        node_free(n);
    }
}

static int unsub(struct sp_trie_node *n, const uint8_t *data, size_t len)
{
    if (len == 0) {
        if (n->refs == 0)
            return -EINVAL;
        n->refs--;
        return 0;
    }
    bool found;
    size_t at = kid_find(n, data[0], &found);
    if (!found)
        return -EINVAL;
    struct sp_trie_node *kid = n->kids[at];
    if (kid->seglen > len || memcmp(kid->seg, data, kid->seglen) != 0)
        return -EINVAL;
    int rc = unsub(kid, data + kid->seglen, len - kid->seglen);
    if (rc == 0)
        compact(n, at);
    return rc;
}

int sp_trie_unsubscribe(struct sp_trie *t, const uint8_t *data, size_t len)
{
    if (!t->root)
        return -EINVAL;
    int rc = unsub(t->root, data, len);
    if (rc == 0 && t->root->refs == 0 && t->root->nkids == 0) {
        node_free(t->root);
        t->root = NULL;
    }
    return rc;
}

bool sp_trie_match(const struct sp_trie *t, const uint8_t *data, size_t len)
{
    const struct sp_trie_node *n = t->root;
    if (!n)
        return false;
    size_t pos = 0;
    for (;;) {
        if (n->refs)
            return true;
        if (pos == len)
            return false;
        bool found;
        size_t at = kid_find(n, data[pos], &found);
        if (!found)
            return false;
        n = n->kids[at];
        if (n->seglen > len - pos || memcmp(n->seg, data + pos, n->seglen) != 0)
            return false;
        pos += n->seglen;
    }
}
