package stapler

// Object is one exported bean: its class and its properties in Jenkins'
// order (superclass properties first, each class's sorted by name).
type Object struct {
	// Class is the Java class name written as _class; "" writes none.
	Class string
	// ShowClass writes _class when the object is nested (Stapler's
	// IF_NEEDED: the runtime class differs from the declared type).
	ShowClass bool
	Props     []Prop
}

// Prop is one exported property.
type Prop struct {
	Name string
	// Vis is the visibility; 0 means the default, 1.
	Vis int
	// Inline properties do not raise the depth threshold of what they hold.
	Inline bool
	// Value is nil, bool, int, int64, float64, string, []string, *Object,
	// []*Object, []any of those, or a Lazy producing one of those.
	Value any
}

// Lazy is a value computed only when a request reaches it.
type Lazy func() any

// Visibilities used across the Jenkins model.
const (
	VisDefault = 1
	VisName    = 999
	VisColor   = 2
	VisNumber  = 2
)

// New returns an object of class cls with the given properties.
func New(cls string, props ...Prop) *Object {
	return &Object{Class: cls, Props: props}
}

// Nested returns an object whose _class is written even when nested.
func Nested(cls string, props ...Prop) *Object {
	return &Object{Class: cls, ShowClass: true, Props: props}
}

// P is a property with default visibility.
func P(name string, v any) Prop { return Prop{Name: name, Value: v} }

// PV is a property with visibility vis.
func PV(name string, vis int, v any) Prop { return Prop{Name: name, Vis: vis, Value: v} }

// PI is an inline property.
func PI(name string, v any) Prop { return Prop{Name: name, Inline: true, Value: v} }

// Add appends properties and returns o.
func (o *Object) Add(props ...Prop) *Object {
	o.Props = append(o.Props, props...)
	return o
}

// Get returns the value of the named property (evaluating a Lazy), and
// whether it exists.
func (o *Object) Get(name string) (any, bool) {
	for _, p := range o.Props {
		if p.Name == name {
			if l, ok := p.Value.(Lazy); ok {
				return l(), true
			}
			return p.Value, true
		}
	}
	return nil, false
}
