package content

// Education holds the texts of the quiz, knowledge and shelter features.
type Education struct{}

// Question is one quiz question (quiz/*.yaml).
type Question struct{}

// Article is one knowledge article (knowledge/*.md).
type Article struct{}

// Shelter is one emergency shelter (shelters.yaml).
type Shelter struct{}

func (l *loader) education(c *Content) {}
