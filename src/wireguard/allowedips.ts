import { PrefixTrie } from '../net/prefix-trie.js';

// Cryptokey routing table (WireGuard paper §2): longest-prefix match from an inner IP
// address to the peer allowed to use it (wireguard-go's AllowedIPs), on the generic
// prefix trie of src/net.
export class AllowedIPs<T> extends PrefixTrie<T> {}
