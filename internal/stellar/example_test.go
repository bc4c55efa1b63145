package stellar_test

import (
	"fmt"

	"github.com/vaspgate/vaspgate/internal/stellar"
)

// A muxed subject is the account behind it plus the muxed id as memo: the same customer
// identity as "G…:<id>".
func ExampleParseSub() {
	id, err := stellar.ParseSub("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLK")
	if err != nil {
		panic(err)
	}
	fmt.Println(id.Account)
	fmt.Println(id.Memo, id.Shared())
	// Output:
	// GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ
	// 9223372036854775808 true
}
