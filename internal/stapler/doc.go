// Package stapler does two things the way Jenkins' web framework, Stapler,
// does them: it reads a request path into tokens (ParsePath), and it
// renders the remote API's JSON.
//
// ParsePath makes the path canonical and decodes it token by token, as
// Stapler.getServletPath and TokenList do; what Stapler then does with the
// tokens, and the sources, are in docs/stapler-dispatch.md.
//
// For the JSON, an object is an ordered list of exported properties, each
// with a visibility, and a request's `depth=` or `tree=` decides which of
// them are written. The rules, from Stapler's ResponseImpl.serveExposedBean
// and export/{Model,Property,TreePruner,NamedPathPruner,
// ClassAttributeBehaviour}.java (jenkinsci/stapler 135bbbc88aa4):
//
//   - `tree` wins over `depth`. Without a tree, depth d (default 0) writes a
//     property iff its visibility >= 1-d, and every nested object that is not
//     inline raises that threshold by one. Default visibility is 1; item
//     names and URLs have 999, colours and build numbers 2.
//   - A tree is `list := node (',' node)*`, `node := NAME ('[' list ']')?
//     ('{' range '}')?`; ranges are {M,N} = [M,N), {M,}, {,N}, {N}; `*`
//     matches any name. With a tree, visibility is ignored; names the object
//     does not define are silently omitted; a nested object with nothing
//     selected is written as {} (with _class where needed).
//   - `_class` is always written on the top-level object and on nested
//     objects only when their runtime class differs from the declared type
//     (Object.ShowClass).
//   - A malformed tree is an error (Jenkins answers 500).
//
// Objects may hold lazily computed values (Lazy) so that deep structures and
// back references cost nothing unless a request reaches them.
package stapler
