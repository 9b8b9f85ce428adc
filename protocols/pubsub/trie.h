/* The subscription set of a SUB socket: a compact (path-compressed) trie of
   byte-string prefixes with a reference count per subscription. A message
   matches when some subscribed string is a prefix of its body (the empty
   subscription matches everything). */
#ifndef SP_TRIE_H
#define SP_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_trie_node;

struct sp_trie {
    struct sp_trie_node *root;
};

void sp_trie_init(struct sp_trie *t);
void sp_trie_term(struct sp_trie *t);
/* Adds one reference to the subscription: 0 or -ENOMEM. */
int sp_trie_subscribe(struct sp_trie *t, const uint8_t *data, size_t len);
/* Drops one reference: 0, or -EINVAL when it is not subscribed (libnanomsg
   crashes on an empty trie and is inconsistent otherwise). */
int sp_trie_unsubscribe(struct sp_trie *t, const uint8_t *data, size_t len);
bool sp_trie_match(const struct sp_trie *t, const uint8_t *data, size_t len);

#endif
